//go:build !linux

package injectors

// sigstopMask is zero where there is no /proc to read pending signals from.
const sigstopMask uint64 = 0
