package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Case is one conformance case, named by its Autobahn TestSuite number.
type Case struct {
	ID   string // Autobahn's number, e.g. "6.4.1"
	Desc string

	// Offers are the permessage-deflate offers the peer makes when it tests
	// a server; Accept is how it answers when it tests a client. Both are
	// empty outside sections 12 and 13.
	Offers []Offer
	Accept *Accept

	// Script sends the case's frames. It may also wait for events itself
	// (with [Peer.Expect] or [Peer.ExpectQuiet]); those are not part of
	// Want.Events.
	Script func(p *Peer) error

	Want Outcome
}

// Outcome is the strict Autobahn "OK" outcome of a case.
type Outcome struct {
	// Events are what the testee must do after the script, in order and
	// nothing else, before the closing handshake.
	Events []Event
	// PeerCloses says the peer starts the closing handshake (Autobahn's
	// closedByMe): the script sends a close frame, or the peer sends close
	// 1000 once Events have all arrived. Otherwise the testee must fail the
	// connection itself, sending its close frame first.
	PeerCloses bool
	// CloseCodes are the codes the testee's close frame may carry; 1005
	// stands for a close frame without a payload.
	CloseCodes []uint16
}

// Run plays c against the testee on p and checks the outcome:
//
//   - the events after the script are exactly c.Want.Events;
//   - the close frame comes from the side c.Want says, with one of its
//     codes (an empty close frame or a TCP connection dropped without one
//     is a failure, except where CloseCodes lists 1005);
//   - every frame the testee sent is valid for where it came in;
//   - after the closing handshake a testee server closes the TCP connection
//     first (the peer waits for it), and a testee client closes its side
//     once the peer has closed.
//
// Run closes p.
func Run(p *Peer, c Case) error {
	defer p.Close()
	if c.Script != nil {
		if err := c.Script(p); err != nil {
			return fmt.Errorf("script: %w", err)
		}
	}
	return p.finish(c.Want)
}

func (p *Peer) finish(want Outcome) error {
	var cf closeFrame
	var closeSentBefore bool
	for {
		if want.PeerCloses && !p.closeSent && eventsEqual(p.events, want.Events) {
			if err := p.SendClose(1000, ""); err != nil {
				return err
			}
		}
		closeSentBefore = p.closeSent
		e, err := p.nextEvent(p.timeout())
		var ce *errClosed
		if errors.As(err, &ce) {
			cf = ce.closeFrame
			break
		}
		if err != nil {
			return fmt.Errorf("no close frame from the testee after events %v (want %v): %w", p.events, want.Events, err)
		}
		p.events = append(p.events, e)
		if !isPrefix(p.events, want.Events) {
			return fmt.Errorf("testee did %v, want %v", p.events, want.Events)
		}
	}
	if !eventsEqual(p.events, want.Events) {
		return fmt.Errorf("testee closed (%d %q) after %v, want %v", cf.code, cf.reason, p.events, want.Events)
	}
	switch {
	case want.PeerCloses && !closeSentBefore:
		return fmt.Errorf("testee sent close %d %q before the peer closed", cf.code, cf.reason)
	case !want.PeerCloses && closeSentBefore:
		return fmt.Errorf("testee answered the peer's close with %d instead of failing the connection first", cf.code)
	case !slices.Contains(want.CloseCodes, cf.code):
		return fmt.Errorf("testee closed with %d %q, want one of %v", cf.code, cf.reason, want.CloseCodes)
	}
	if !p.closeSent {
		var payload []byte
		if cf.code != 1005 {
			payload = binary.BigEndian.AppendUint16(nil, cf.code)
		}
		if err := p.SendCloseFrame(payload); err != nil {
			return fmt.Errorf("failed to answer the testee's close: %w", err)
		}
	}
	return p.awaitTCPClose()
}

// awaitTCPClose checks how the TCP connection ends after the closing
// handshake. A server must close it first; the peer never does. When the
// peer is the server, it closes its sending side and waits for the client
// to close.
func (p *Peer) awaitTCPClose() error {
	if !p.client {
		if cw, ok := p.conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	f, err := p.nextFrame(p.timeout())
	switch {
	case err == io.EOF:
		return nil
	case err == errTimeout && p.client:
		return errors.New("testee server did not close the TCP connection after the closing handshake")
	case err == errTimeout:
		return errors.New("testee client did not close the TCP connection after the server did")
	case err != nil:
		return fmt.Errorf("TCP connection did not end cleanly after the closing handshake: %w", err)
	}
	return fmt.Errorf("testee sent a %#x frame after the closing handshake", f.op)
}

func isPrefix(got, want []Event) bool {
	return len(got) <= len(want) && eventsEqual(got, want[:len(got)])
}

func eventsEqual(a, b []Event) bool {
	return slices.EqualFunc(a, b, Event.Equal)
}

// Expect reads the testee's next event and checks it is want. Scripts use
// it for round trips; the event is not added to the case's outcome.
func (p *Peer) Expect(want Event) error {
	e, err := p.nextEvent(p.timeout())
	if err != nil {
		return fmt.Errorf("waiting for %v: %w", want, err)
	}
	if !e.Equal(want) {
		return fmt.Errorf("testee did %v, want %v", e, want)
	}
	return nil
}

// ExpectMessage reads the testee's next event, checks it is the message
// want, and returns it (to look at how it arrived).
func (p *Peer) ExpectMessage(binary bool, payload []byte) (Event, error) {
	want := Message(binary, payload)
	e, err := p.nextEvent(p.timeout())
	if err != nil {
		return e, fmt.Errorf("waiting for %v: %w", want, err)
	}
	if !e.Equal(want) {
		return e, fmt.Errorf("testee did %v, want %v", e, want)
	}
	return e, nil
}

// ExpectQuiet checks that the testee sends nothing for d: Autobahn's
// "timeout" marker of cases 6.4.x, which checks that a valid first part is
// not refused. A correct testee cannot fail this check by being slow.
func (p *Peer) ExpectQuiet(d time.Duration) error {
	f, err := p.nextFrame(d)
	switch {
	case err == errTimeout:
		return nil
	case err != nil:
		return fmt.Errorf("testee ended the connection when it should have waited: %w", err)
	case f.op == OpClose:
		cf, _ := parseClose(f.payload)
		return fmt.Errorf("testee closed with %d %q when it should have waited", cf.code, cf.reason)
	}
	return fmt.Errorf("testee sent a %#x frame when it should have waited", f.op)
}

// String describes the case for test logs.
func (c Case) String() string { return fmt.Sprintf("case %s: %s", c.ID, c.Desc) }
