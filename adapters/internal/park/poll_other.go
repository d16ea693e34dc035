//go:build !linux

package park

import (
	"syscall"
	"time"
)

const supported = false

type poller struct{}

func newPoller() (*poller, error)                                { return nil, ErrUnsupported }
func (p *poller) add(syscall.RawConn, uint64, bool) (int, error) { return 0, ErrUnsupported }
func unacked(syscall.RawConn, time.Duration)                     {}
func (p *poller) del(int)                                        {}
func (p *poller) close()                                         {}
func (p *poller) wait(func(uint64))                              {}
func writeNow(syscall.RawConn, [][]byte) (int, error)            { return 0, ErrUnsupported }
