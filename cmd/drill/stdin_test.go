package main

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateAnswers is how an approval gate gets its answers from
// harness.Options.Stdin (harness/run.go operatorAnswers, with the patch
// that receives from a shared stdin's Lines): the channel of a line
// source, or else lines scanned from a reader of its own.
func gateAnswers(in io.Reader) <-chan string {
	if ls, ok := in.(interface{ Lines() <-chan string }); ok {
		return ls.Lines()
	}
	ch := make(chan string, 4)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan string) (string, bool) {
	t.Helper()
	select {
	case s, ok := <-ch:
		return s, ok
	case <-time.After(5 * time.Second):
		t.Fatal("no line and no end of input after 5s")
		return "", false
	}
}

// TestSharedStdinOneLinePerGate is `printf 'yes\nno\n' | drill run a.yaml
// b.yaml`: each drill's gate takes one answer and the next drill's gate
// gets the next one. With os.Stdin handed to each drill as is, the first
// drill's scanner read both lines and the second gate saw stdin closed.
func TestSharedStdinOneLinePerGate(t *testing.T) {
	c := &cli{stdin: strings.NewReader("yes\nno\n")}
	in := c.sharedStdin() // one per invocation: every drill gets it
	for i, want := range []string{"yes", "no"} {
		drill := gateAnswers(in)
		// Give a reader that reads ahead time to do it.
		time.Sleep(20 * time.Millisecond)
		got, ok := receive(t, drill)
		if !ok || got != want {
			t.Fatalf("drill %d's gate got %q (open %v), want %q", i+1, got, ok, want)
		}
	}
	// A third drill finds the input at its end: no operator, not a hang.
	if got, ok := receive(t, gateAnswers(in)); ok {
		t.Errorf("a third gate got %q after the end of input", got)
	}
}

// TestSharedStdinRead: a consumer that reads bytes gets the lines in
// order, whole, even through a buffer shorter than a line, and EOF at the
// end; concurrent readers (-race) share it without losing a byte.
func TestSharedStdinRead(t *testing.T) {
	s := newLineSource(strings.NewReader("first line\r\nsecond\nthird"))
	var got strings.Builder
	buf := make([]byte, 3)
	for {
		n, err := s.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := "first line\nsecond\nthird\n"; got.String() != want {
		t.Errorf("read %q, want %q", got.String(), want)
	}

	lines := strings.Repeat("y\n", 200)
	s = newLineSource(strings.NewReader(lines))
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := io.ReadAll(s)
			mu.Lock()
			total += len(b)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != len(lines) {
		t.Errorf("concurrent readers got %d bytes, want %d", total, len(lines))
	}
}

// TestSharedStdinNil: a cli without stdin gives drills none, which the
// harness reads as no operator.
func TestSharedStdinNil(t *testing.T) {
	if in := (&cli{}).sharedStdin(); in != nil {
		t.Errorf("sharedStdin() = %v, want nil", in)
	}
}
