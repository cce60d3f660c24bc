//go:build unix

package mmapmodel

import "golang.org/x/sys/unix"

func madvise(b []byte, a Advice) error {
	if len(b) == 0 {
		return nil
	}
	var adv int
	switch a {
	case AdviseNormal:
		adv = unix.MADV_NORMAL
	case AdviseWillNeed:
		adv = unix.MADV_WILLNEED
	case AdviseSequential:
		adv = unix.MADV_SEQUENTIAL
	case AdviseRandom:
		adv = unix.MADV_RANDOM
	default:
		return nil
	}
	return unix.Madvise(b, adv)
}
