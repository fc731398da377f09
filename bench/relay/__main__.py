from bench.relay.run import main

main()
