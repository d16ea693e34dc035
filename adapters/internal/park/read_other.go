//go:build !linux

package park

import "syscall"

func readNow(syscall.RawConn, []byte) (int, error) { return 0, ErrUnsupported }
