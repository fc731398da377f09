// The device's token where the service worker can read it: IndexedDB (a service worker
// has no localStorage). A classic script, shared by the page (loaded before the modules)
// and the service worker (importScripts), so both read and write the same record.
// Written at sign-in, cleared at sign-out; the lock screen's Allow and Deny use it.

(function (scope) {
  const DB = "tether";
  const STORE = "device";
  const KEY = "token";

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(mode, act) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = act(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  scope.tetherTokenDB = Object.freeze({
    get: () => run("readonly", (s) => s.get(KEY)).then((v) => v || null),
    set: (token) => run("readwrite", (s) => s.put(token, KEY)),
    clear: () => run("readwrite", (s) => s.delete(KEY)),
  });
})(self);
