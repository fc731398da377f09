// What this device keeps where the service worker can read it: IndexedDB (a service
// worker has no localStorage). A classic script, shared by the page (loaded before the
// modules) and the service worker (importScripts), so both open the one database the one
// way: its token (for the lock screen's Allow and Deny; written at sign-in, cleared at
// sign-out) and its key pair (made when it was paired, js/e2e.js; the worker opens an
// encrypted session's title with it).
//
// Version 2 has both stores: version 1 was opened by two scripts that each made only
// their own, so whichever ran first left the other's store missing.

(function (scope) {
  const DB = "tether";
  const VERSION = 2;
  const STORES = ["device", "keys"];

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        for (const name of STORES) if (!db.objectStoreNames.contains(name)) db.createObjectStore(name);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

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

  scope.tetherTokenDB = Object.freeze({
    get: () => run("device", "readonly", (s) => s.get("token")).then((v) => v || null),
    set: (token) => run("device", "readwrite", (s) => s.put(token, "token")),
    clear: () => run("device", "readwrite", (s) => s.delete("token")),
    // {id, publicKey, privateKey (a CryptoKey, not extractable)} or null.
    deviceKey: () => run("keys", "readonly", (s) => s.get("device")).then((v) => v || null),
    saveDeviceKey: (device) => run("keys", "readwrite", (s) => s.put(device, "device")),
  });
})(self);
