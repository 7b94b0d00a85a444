package gce

// crc32Combine returns the CRC-32 (IEEE) of A followed by B from crcA,
// crcB and the length of B, so chunks can be checksummed in parallel.
// The CRC register is a polynomial over GF(2): appending n bytes multiplies
// crcA by x^(8n) modulo the generator; crcB's own terms then add in.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	return mulModP(xPow8n(lenB), crcA) ^ crcB
}

const poly = 0xedb88320 // IEEE, bit-reversed

// mulModP multiplies a and b modulo the CRC polynomial, in the reflected
// bit order CRC-32 uses (x^0 is the top bit).
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ poly
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8n returns x^(8n) modulo the polynomial, by repeated squaring.
func xPow8n(n int64) uint32 {
	result := uint32(1) << 31 // x^0
	sq := uint32(1) << 23     // x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			result = mulModP(result, sq)
		}
		sq = mulModP(sq, sq)
	}
	return result
}
