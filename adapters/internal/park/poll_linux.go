//go:build linux

package park

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const supported = true

// poller is one epoll instance over every parked socket, and an eventfd
// that ends its wait.
type poller struct {
	epfd, evfd int
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	// id 0 is the eventfd: connections' ids start at 1.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	return &poller{epfd: epfd, evfd: evfd}, nil
}

// add watches the socket of rc for hang-up (EPOLLRDHUP: the peer's FIN;
// EPOLLHUP and EPOLLERR, always reported: a reset), and with in for
// readability (EPOLLIN), reported (edge-triggered: once per change) with
// id. It returns the socket's descriptor for del.
func (p *poller) add(rc syscall.RawConn, id uint64, in bool) (fd int, err error) {
	ev := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if in {
		ev.Events |= unix.EPOLLIN
	}
	cerr := rc.Control(func(s uintptr) {
		fd = int(s)
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	})
	if err == nil {
		err = cerr
	}
	return fd, err
}

// unacked sets the socket's TCP_USER_TIMEOUT to d: the kernel ends the
// connection with ETIMEDOUT once data it sent has gone unacknowledged for
// that long. A socket that is not TCP keeps its defaults.
func unacked(rc syscall.RawConn, d time.Duration) {
	_ = rc.Control(func(s uintptr) {
		_ = unix.SetsockoptInt(int(s), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
}

// del stops watching fd; it must be called before fd is closed.
func (p *poller) del(fd int) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil) }

// close ends wait, which then closes the descriptors.
func (p *poller) close() {
	var one = [8]byte{1}
	_, _ = unix.Write(p.evfd, one[:])
}

// wait reports the id of each socket that hung up or became readable,
// until close.
func (p *poller) wait(hup func(id uint64)) {
	defer unix.Close(p.evfd)
	defer unix.Close(p.epfd)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // EBADF, EINVAL: cannot happen while the engine runs
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return
			}
			hup(id)
		}
	}
}

// writeNow writes bufs to rc's socket without waiting: n is what the
// socket took, 0 when it takes nothing now.
func writeNow(rc syscall.RawConn, bufs [][]byte) (n int, err error) {
	cerr := rc.Write(func(s uintptr) bool {
		for {
			n, err = unix.Writev(int(s), bufs)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				n, err = 0, nil
			}
			return true
		}
	})
	if err == nil {
		err = cerr
	}
	if n < 0 {
		n = 0
	}
	return n, err
}
