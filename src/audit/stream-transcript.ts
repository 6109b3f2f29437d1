/** Moved to masking/: the transcript comes from the same parser as the stream masker. Delete once nothing imports this. */
export { reassembleSseTranscript } from '../masking/index.ts';
