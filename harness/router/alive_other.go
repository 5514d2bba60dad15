//go:build !linux

package router

import "net"

// idleConnAlive cannot peek without blocking here; a request sent on a
// connection the instance closed while idle fails (502), or is retried
// when it is safe to (see fastConn.forward).
func idleConnAlive(net.Conn) bool { return true }
