/** The snappyjs package (CommonJS, no types of its own): the independent snappy decoder of the Loki tests. */
declare module 'snappyjs' {
  const SnappyJS: {
    uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
    compress(input: Uint8Array): Uint8Array;
  };
  export default SnappyJS;
}
