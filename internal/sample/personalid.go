package sample

// ValidPersonalID reports whether s is an 11-digit Estonian-style personal
// identification code (isikukood) GYYMMDDSSSC: G is 1..8 (sex and century:
// odd male, even female; 1-2 for the 1800s, 3-4 the 1900s, 5-6 the 2000s,
// 7-8 the 2100s), YYMMDD a real calendar date, SSS a serial and C the check
// digit: the digit sum weighted 1..9,1 modulo 11, or if that is 10 the sum
// weighted 3..9,1,2,3 modulo 11, or if that is 10 too, 0.
func ValidPersonalID(s string) bool {
	if len(s) != 11 {
		return false
	}
	var d [11]int
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		d[i] = int(c - '0')
	}
	if d[0] < 1 || d[0] > 8 {
		return false
	}
	y := 1800 + (d[0]-1)/2*100 + d[1]*10 + d[2]
	m := d[3]*10 + d[4]
	day := d[5]*10 + d[6]
	if m < 1 || m > 12 || day < 1 || day > daysIn(y, m) {
		return false
	}
	return checkDigit(d[:10]) == d[10]
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// checkDigit computes the isikukood check digit of the first ten digits.
func checkDigit(d []int) int {
	s1, s2 := 0, 0
	for i, v := range d[:10] {
		s1 += v * (i%9 + 1)     // 1..9,1
		s2 += v * ((i+2)%9 + 1) // 3..9,1,2,3
	}
	if c := s1 % 11; c < 10 {
		return c
	}
	if c := s2 % 11; c < 10 {
		return c
	}
	return 0
}

// personalID encodes a code for a birth date, sex and serial (0..999).
func personalID(y, m, day int, male bool, serial int) [11]byte {
	g := (y-1800)/100*2 + 1
	if !male {
		g++
	}
	v := [10]int{g, y / 10 % 10, y % 10, m / 10, m % 10, day / 10, day % 10,
		serial / 100, serial / 10 % 10, serial % 10}
	var b [11]byte
	for i, x := range v {
		b[i] = byte('0' + x)
	}
	b[10] = byte('0' + checkDigit(v[:]))
	return b
}
