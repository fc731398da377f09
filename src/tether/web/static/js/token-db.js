// The browser's one IndexedDB database, "tether", and the device's token in it where the
// service worker can read it (a service worker has no localStorage). A classic script,
// shared by the page (loaded before the modules) and the service worker (importScripts).
// The token is written at sign-in and cleared at sign-out; the lock screen's Allow and
// Deny use it. js/e2e.js keeps the device's key pair in the same database, through
// `tetherDB.run`: every store is made here, since a database made by one opener with
// only its own store leaves the other's transactions failing (version 1 did that).

(function (scope) {
  const DB = "tether";
  const VERSION = 2;
  const STORES = ["device", "keys"]; // the token; js/e2e.js's key pair
  const KEY = "token";

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, VERSION);
      request.onupgradeneeded = () => {
        for (const name of STORES) {
          if (!request.result.objectStoreNames.contains(name)) {
            request.result.createObjectStore(name);
          }
        }
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  // `act(objectStore)` in one transaction on `store`; what its request returned.
  async function run(store, mode, act) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(store, mode);
        const request = act(tx.objectStore(store));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  scope.tetherDB = Object.freeze({ run });
  scope.tetherTokenDB = Object.freeze({
    get: () => run("device", "readonly", (s) => s.get(KEY)).then((v) => v || null),
    set: (token) => run("device", "readwrite", (s) => s.put(token, KEY)),
    clear: () => run("device", "readwrite", (s) => s.delete(KEY)),
  });
})(self);
