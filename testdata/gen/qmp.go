package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpConn is a minimal QEMU Machine Protocol client (docs/interop/qmp-spec).
type qmpConn struct {
	conn net.Conn
	rd   *bufio.Reader
}

func dialQMP(sock string, timeout time.Duration) (*qmpConn, error) {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	var err error
	for {
		conn, err = net.Dial("unix", sock)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("qmp %s: %w", sock, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	q := &qmpConn{conn: conn, rd: bufio.NewReaderSize(conn, 1<<16)}
	if _, err := q.readMsg(30 * time.Second); err != nil { // greeting
		conn.Close()
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	if _, err := q.exec("qmp_capabilities", nil, 30*time.Second); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmpConn) Close() error { return q.conn.Close() }

func (q *qmpConn) readMsg(timeout time.Duration) (map[string]json.RawMessage, error) {
	q.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := q.rd.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("qmp: bad message %q: %w", line, err)
	}
	return m, nil
}

// exec runs a command and returns its "return" value, skipping events.
func (q *qmpConn) exec(cmd string, args any, timeout time.Duration) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	q.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		m, err := q.readMsg(timeout)
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		if _, ok := m["event"]; ok {
			continue
		}
		if e, ok := m["error"]; ok {
			return nil, fmt.Errorf("qmp %s: %s", cmd, e)
		}
		if r, ok := m["return"]; ok {
			return r, nil
		}
	}
}
