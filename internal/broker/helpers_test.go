package broker_test

import "crypto/hpke"

func hpkeKey() ([]byte, error) {
	k, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		return nil, err
	}
	return k.PublicKey().Bytes(), nil
}
