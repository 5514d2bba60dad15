package gameday

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SocketName is the control socket's name in a run directory.
const SocketName = "ctl.sock"

// maxSocketPath is the longest path a Unix socket may have on Linux
// (sun_path is 108 bytes with its terminating NUL).
const maxSocketPath = 107

// maxRequest bounds one command on the socket: a note is a sentence.
const maxRequest = 64 << 10

// Server serves a console on the run directory's Unix socket.
type Server struct {
	ln         net.Listener
	path, link string
	wg         sync.WaitGroup
}

// Listen serves c until Close on a Unix socket in sockDir (the run's
// temp dir, 0700), readable and writable by its owner only, and links it
// as runDir/ctl.sock (the run directory is 0700 too). The socket does
// not live in the run directory itself because a socket's path is
// limited to 107 bytes, which a run directory under a long --out (a
// test's temp dir) exceeds; Send follows the link.
func Listen(runDir, sockDir string, c *Console) (*Server, error) {
	path := filepath.Join(sockDir, SocketName)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes, over the %d a Unix socket allows: set TMPDIR to a shorter directory", path, len(path), maxSocketPath)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	link := filepath.Join(runDir, SocketName)
	if err := os.Symlink(path, link); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s := &Server{ln: ln, path: path, link: link}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serveConn(conn, c)
			}()
		}
	}()
	return s, nil
}

// Close stops accepting commands, waits for those in flight and removes
// the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	_ = os.Remove(s.path)
	_ = os.Remove(s.link)
	return err
}

// serveConn reads one command as a JSON line and writes one reply.
func serveConn(conn net.Conn, c *Console) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Minute))
	var cmd Command
	line, err := bufio.NewReader(io.LimitReader(conn, maxRequest)).ReadBytes('\n')
	if err == nil || errors.Is(err, io.EOF) {
		err = json.Unmarshal(line, &cmd)
	}
	var rep Reply
	if err != nil {
		rep = Reply{Message: "bad request: " + err.Error()}
	} else {
		if cmd.Via == "" {
			cmd.Via = "ctl"
		}
		rep = c.Do(context.Background(), cmd)
	}
	_ = json.NewEncoder(conn).Encode(rep)
}

// ErrNoDrill means no drill answers on the run directory's socket.
var ErrNoDrill = errors.New("no running drill answers there")

// Send sends cmd to the drill running in runDir and returns its reply.
func Send(ctx context.Context, runDir string, cmd Command) (Reply, error) {
	path := filepath.Join(runDir, SocketName)
	if target, err := os.Readlink(path); err == nil {
		// The link's own path may be too long to connect to (see Listen).
		path = target
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if _, serr := os.Stat(runDir); serr != nil {
			return Reply{}, fmt.Errorf("%s: %w", runDir, serr)
		}
		return Reply{}, fmt.Errorf("%s: %w (%v)", path, ErrNoDrill, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	b, _ := json.Marshal(cmd)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return Reply{}, err
	}
	var rep Reply
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		return Reply{}, fmt.Errorf("reading the drill's reply: %w", err)
	}
	return rep, nil
}
