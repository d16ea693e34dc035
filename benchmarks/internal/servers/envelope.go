package servers

import "strconv"

// appendEnvelope appends the JSON envelope {"id":"SEQ","data":"PAYLOAD"}
// that the JSON transports carry; payloads are ASCII without quotes or
// backslashes, so they need no escaping.
func appendEnvelope(b []byte, seq int, payload []byte) []byte {
	b = append(b, `{"id":"`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","data":"`...)
	b = append(b, payload...)
	return append(b, `"}`...)
}
