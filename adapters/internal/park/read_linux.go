//go:build linux

package park

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// readNow reads from rc's socket without waiting: (0, nil) is "nothing
// now" only when len(p) is 0; otherwise nothing now is (-1, nil) and the
// end of the stream (0, nil).
func readNow(rc syscall.RawConn, p []byte) (n int, err error) {
	cerr := rc.Read(func(s uintptr) bool {
		for {
			n, err = unix.Read(int(s), p)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				n, err = -1, nil
			}
			return true
		}
	})
	if err == nil {
		err = cerr
	}
	return n, err
}
