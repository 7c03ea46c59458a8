package printk

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// AuditRecord is one audit message kauditd had not yet sent on.
type AuditRecord struct {
	Queue string `json:"queue"` // "audit_queue", "audit_retry_queue", "audit_hold_queue"
	Type  int    `json:"type"`  // nlmsg_type: AUDIT_* (include/uapi/linux/audit.h)
	Text  string `json:"text"`
}

// auditQueues are kauditd's sk_buff queues (kernel/audit.c): records not
// yet sent, those to retry, and those held while no auditd listens;
// audit_skb_queue is the name before 4.11.
var auditQueues = []string{"audit_queue", "audit_retry_queue", "audit_hold_queue", "audit_skb_queue"}

// Bounds: MAX_AUDIT_MESSAGE_LENGTH is 8970 (include/linux/audit.h); the
// backlog is audit_backlog_limit (64 by default), far below maxAuditSkbs.
const (
	maxAuditText = 8970
	maxAuditSkbs = 1 << 16
	nlmsgHdrLen  = 16 // struct nlmsghdr, NLMSG_HDRLEN
)

// Audit returns the audit records in kauditd's queues, each queue in order.
// Each sk_buff's data is a netlink message: struct nlmsghdr (length, type,
// ...) then the text. A queue that is absent (a kernel without
// CONFIG_AUDIT) is skipped; one that cannot be walked ends with the
// records found and an error.
func Audit(p *symbols.Program) ([]AuditRecord, error) {
	headNext, err1 := p.OffsetOf("struct sk_buff_head", "next")
	qlenOff, err2 := p.OffsetOf("struct sk_buff_head", "qlen")
	skbNext, err3 := p.OffsetOf("struct sk_buff", "next")
	dataOff, err4 := p.OffsetOf("struct sk_buff", "data")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out []AuditRecord
	var errs []error
	found := false
	for _, q := range auditQueues {
		head, err := p.Symbol(q)
		if err != nil {
			continue
		}
		found = true
		qlen, err := p.ReadU32(head + qlenOff)
		if err != nil {
			errs = append(errs, fmt.Errorf("audit: %s at %#x: %w", q, head, err))
			continue
		}
		skb, err := p.ReadU64(head + headNext)
		for n := 0; err == nil && skb != head; n++ {
			if n >= int(qlen) || n >= maxAuditSkbs {
				err = fmt.Errorf("more sk_buffs than its qlen %d", qlen)
				break
			}
			var data uint64
			if data, err = p.ReadU64(skb + dataOff); err != nil {
				break
			}
			hdr := make([]byte, nlmsgHdrLen)
			if err = p.Mem.ReadVirt(hdr, data); err != nil {
				break
			}
			l := binary.LittleEndian.Uint32(hdr)
			r := AuditRecord{Queue: q, Type: int(binary.LittleEndian.Uint16(hdr[4:]))}
			if l > nlmsgHdrLen {
				text := make([]byte, min(l-nlmsgHdrLen, maxAuditText))
				if err = p.Mem.ReadVirt(text, data+nlmsgHdrLen); err != nil {
					break
				}
				r.Text = cString(text)
			}
			out = append(out, r)
			skb, err = p.ReadU64(skb + skbNext)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("audit: %s at %#x: %w", q, head, err))
		}
	}
	if !found {
		return nil, fmt.Errorf("audit: no audit queue in the symbols (a kernel without CONFIG_AUDIT?)")
	}
	return out, errors.Join(errs...)
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
