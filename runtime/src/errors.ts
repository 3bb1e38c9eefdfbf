// The error class of everything the runtime refuses: a descriptor that is damaged, inconsistent or
// unsafe (a file name outside its directory, a checksum that does not match), and bad inputs.

/**
 * Thrown (or rejected with) for a bad descriptor or a bad input. `WebDNN.load()` rejects only with
 * a WebDNNError; a runner's `run()` and `TensorView.set()` use it for inputs they refuse.
 */
export class WebDNNError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebDNNError';
    // keeps instanceof working where the class is compiled down to ES5-style constructors
    Object.setPrototypeOf(this, new.target.prototype);
  }
}
