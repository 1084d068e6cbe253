// Waits shared by the scripts of this folder, each bounded so that a
// missing event fails the script instead of hanging it.

// once resolves with the arguments of emitter's next event, and rejects
// when none comes within ms.
export function once(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

// callWithin emits with an acknowledgement callback and resolves with its
// arguments, and rejects when no acknowledgement comes within ms.
export function callWithin(ms, socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}"`)), ms);
    socket.emit(event, ...args, (...res) => {
      clearTimeout(timer);
      resolve(res);
    });
  });
}
