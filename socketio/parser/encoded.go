package parser

// EncodedPacket is a packet in its wire form: the text message (see
// [Packet.AppendText]) and the binary attachments that follow it, one
// message each. It is what adapters keep and exchange (a recovery log
// holds them; a restored session gets them), and what the socket layer
// turns into transport messages, so a broadcast is encoded once whatever
// the number of its receivers and of the servers it crosses.
//
// An EncodedPacket is immutable once made: the same one is shared by every
// receiver of a broadcast, by a recovery log and by the sessions restored
// from it, and none of them may modify Text, Attachments or their bytes.
type EncodedPacket struct {
	// Text is the text message: `2["chat","hi"]`, or `51-[...]` for a
	// packet with one attachment. It is never empty.
	Text []byte
	// Attachments are the binary attachments in placeholder order; their
	// number is the one Text announces.
	Attachments [][]byte
}

// Encode returns p's wire form. Its text is a new slice; its attachments
// are p's, which must not be modified after.
func (p *Packet) Encode() EncodedPacket {
	return EncodedPacket{Text: p.AppendText(make([]byte, 0, p.TextLen())), Attachments: p.Attachments}
}

// Size returns the bytes ep holds: the capacity of its text and
// attachments (what keeping ep keeps from being freed), not counting the
// structures that refer to them.
func (ep *EncodedPacket) Size() int64 {
	n := int64(cap(ep.Text))
	for _, a := range ep.Attachments {
		n += int64(cap(a))
	}
	return n
}
