package router

import (
	"net"
	"syscall"
)

// idleConnAlive reports whether an idle upstream connection can still
// carry a request: the instance has neither closed it nor sent anything
// unasked. It peeks without blocking, one system call, which stands in
// for http.Transport's read loop noticing an idle close: a request that
// cannot be retried must not be sent on a connection already gone.
func idleConnAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is the one healthy answer: a read of
		// 0 bytes is the instance's FIN, of more bytes it sent unasked.
		alive = err == syscall.EAGAIN
		return true
	})
	return alive && err == nil
}
