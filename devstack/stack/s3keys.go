package stack

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// S3Keys lists every object key in the stack's bucket (ListObjectsV2, page by page), for tests
// that prove what is, or is no longer, stored.
func (s *Stack) S3Keys(ctx context.Context) ([]string, error) {
	e := s.ep
	var keys []string
	token := ""
	for {
		q := url.Values{"list-type": {"2"}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		// url.Values.Encode sorts by key, as the canonical query string must be.
		u := strings.TrimSuffix(e.S3Endpoint, "/") + "/" + url.PathEscape(e.S3Bucket) + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		signV4(req, e.S3AccessKey, e.S3SecretKey, e.S3Region, time.Now())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("s3: list bucket %s: %w", e.S3Bucket, err)
		}
		var page struct {
			Contents              []struct{ Key string }
			IsTruncated           bool
			NextContinuationToken string
		}
		err = xml.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("s3: list bucket %s: HTTP %d", e.S3Bucket, res.StatusCode)
		}
		if err != nil {
			return nil, fmt.Errorf("s3: list bucket %s: %w", e.S3Bucket, err)
		}
		for _, c := range page.Contents {
			keys = append(keys, c.Key)
		}
		if !page.IsTruncated || page.NextContinuationToken == "" {
			return keys, nil
		}
		token = page.NextContinuationToken
	}
}
