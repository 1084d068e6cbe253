// Package deflate compresses small messages for permessage-deflate (RFC
// 7692) into one DEFLATE block with the fixed Huffman codes (RFC 1951,
// section 3.2.6).
//
// A dynamic block, what general-purpose compressors write, starts with the
// code lengths of its own Huffman codes: for a message of a few hundred
// bytes, building those codes costs the sender more than finding the
// repeats, reading them costs the receiver more than decoding the
// message, and they take 60–80 bytes of the output. The fixed codes need
// neither: for the JSON-like 512-byte messages of the benchmarks, [Encoder]
// takes about a fifth of the CPU time of klauspost/compress at level 1,
// the receiver decodes in a third of the time, and the output is 9–16 %
// larger (20–22 % at 1 KiB). For larger messages dynamic codes pay for themselves, and
// the caller should use a general compressor.
//
// Invariants:
//   - The output is a non-final fixed-code block holding all of the input,
//     then the header of an empty stored block padded to a byte boundary:
//     a sync flush without its last four bytes (00 00 ff ff), which is how
//     permessage-deflate sends a message.
//   - Back-references point into the message itself only (it decodes with
//     or without the receiver's context) and never further back than the
//     maxDist the caller gives (the peer's window).
//   - Nothing of one message is kept for the next: the match table is
//     cleared at the start of each call.
package deflate
