// Package inflate decodes raw DEFLATE streams (RFC 1951) the way
// permessage-deflate (RFC 7692) needs them: one message at a time, from a
// reader that ends with the message, optionally continuing the window of
// the previous message (context takeover).
//
// A [Decoder] is meant to be pooled and shared by many connections. It
// keeps nothing of one stream that the next could observe: every block
// builds its Huffman tables afresh, an empty or incomplete table decodes
// nothing but errors, and a distance may reach back only over what this
// stream wrote (and the dictionary given to [Decoder.Reset]), never over
// the previous stream's output that the window buffer still holds.
// (klauspost/compress keeps a block's lookup table when a later block
// declares an empty one, so a pooled decoder there needs scrubbing between
// connections; this package was written so that it does not.)
//
// What it accepts and rejects follows the standard library's
// compress/flate exactly, which its fuzz test checks byte for byte:
// over-subscribed and incomplete codes fail (except a single code of one
// bit, which zlib writes), as do reserved block types, literal/length
// symbols 286 and 287, distance symbols 30 and 31, more than 286 literal or
// 30 distance codes, a repeat code with nothing to repeat or past the end
// of the lengths, stored blocks whose length check fails, and distances
// beyond the history. Input that ends before a final block ends the stream
// with [io.ErrUnexpectedEOF] after everything decoded so far, down to the
// last symbol compress/flate decodes there (it wants at least as many bits
// as the end-of-block code has before it looks up a literal or length);
// permessage-deflate streams end that way, after the empty stored block of
// the sync flush.
//
// The decoding loop refills a 64-bit bit buffer eight bytes at a time and
// looks symbols up in two-level tables (9 root bits for literals and
// lengths, 6 for distances; the sizes of zlib's inflate_table, whose
// bounds 852 and 592 entries hold for every complete code).
package inflate
