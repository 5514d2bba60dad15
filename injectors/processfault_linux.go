package injectors

import "syscall"

// sigstopMask is SIGSTOP's bit in /proc/<pid>/status's signal masks.
const sigstopMask = uint64(1) << (uint(syscall.SIGSTOP) - 1)
