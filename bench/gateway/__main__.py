from bench.gateway.run import main

main()
