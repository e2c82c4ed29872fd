package stack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// emptySHA256 is the hex SHA-256 of an empty payload.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// signV4 signs a request without a body or query (HEAD or PUT of a bucket) with AWS Signature
// Version 4 for service s3. It is all the dev stack needs to create its bucket, which spares it
// the whole AWS SDK.
func signV4(req *http.Request, accessKey, secretKey, region string, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	date := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)

	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	const signedHeaders = "host;x-amz-content-sha256;x-amz-date"
	canonical := req.Method + "\n" +
		path + "\n" +
		req.URL.RawQuery + "\n" +
		"host:" + req.URL.Host + "\n" +
		"x-amz-content-sha256:" + emptySHA256 + "\n" +
		"x-amz-date:" + amzDate + "\n" +
		"\n" +
		signedHeaders + "\n" +
		emptySHA256
	scope := date + "/" + region + "/s3/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])

	key := hmacSHA256([]byte("AWS4"+secretKey), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, "s3")
	key = hmacSHA256(key, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(key, toSign))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+sig)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
