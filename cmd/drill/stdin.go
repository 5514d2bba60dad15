package main

import (
	"bufio"
	"io"
	"sync"
)

// lineSource shares one stdin among the drills of one invocation. Each
// drill used to get os.Stdin itself and wrap it in a reader of its own,
// which reads ahead: with `printf 'yes\nyes\n' | drill run a.yaml b.yaml`
// the first drill's reader took both lines and the second drill's gate
// saw stdin closed. Here one goroutine reads the lines and hands each to
// whichever gate receives it, so a line is only consumed by a gate that
// is waiting for an answer.
type lineSource struct {
	in   io.Reader
	once sync.Once
	ch   chan string

	mu      sync.Mutex
	pending []byte // the rest of a line a Read call had no room for
}

// newLineSource returns a lineSource over in. Nothing is read until a
// drill asks for a line.
func newLineSource(in io.Reader) *lineSource {
	return &lineSource{in: in}
}

// Lines returns the channel the lines arrive on, without their line
// ending; it is closed at the end of input. Every call returns the same
// channel, which the harness's approval gates receive from (see
// harness.Options.Stdin).
func (s *lineSource) Lines() <-chan string {
	s.once.Do(func() {
		// Unbuffered: the reading goroutine holds at most one line that
		// no gate has taken yet, and hands it to the next gate that asks.
		s.ch = make(chan string)
		go func() {
			defer close(s.ch)
			sc := bufio.NewScanner(s.in)
			for sc.Scan() {
				s.ch <- sc.Text()
			}
		}()
	})
	return s.ch
}

// Read makes the source an io.Reader for a consumer that reads bytes: it
// yields the lines one by one, each ending in "\n". A consumer that reads
// ahead still takes lines meant for later drills; Lines does not.
func (s *lineSource) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		line, ok := <-s.Lines()
		if !ok {
			return 0, io.EOF
		}
		s.pending = append([]byte(line), '\n')
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}
