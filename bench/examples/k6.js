// k6: GetDevice and ListDevices, each virtual user with its own seeded user's token.
//
//   python -m service seed --users 1000 --devices 2 --tokens --out seed.jsonl
//   k6 run -e SEED_FILE=seed.jsonl -e BASE_URL=http://127.0.0.1:9229 bench/examples/k6.js
//
// SEED_FILE is `seed`'s JSON-lines output. VU n takes line n (wrapping around); each waits
// 0.1-0.3 s between calls, under the per-user quota (USER_RATE_PER_S, 10/s by default), so every
// answer should be a 200 and the threshold fails the run on any other.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { SharedArray } from 'k6/data';

const rows = new SharedArray('seed', () =>
  open(__ENV.SEED_FILE || 'seed.jsonl')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line)),
);
const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:9229';

export const options = {
  vus: Number(__ENV.VUS || 50),
  duration: __ENV.DURATION || '30s',
  thresholds: { http_req_failed: ['rate==0'], checks: ['rate==1'] },
};

function call(operation, body) {
  const response = http.post(`${BASE_URL}/`, JSON.stringify(body), {
    headers: {
      'Content-Type': 'application/x-amz-json-1.1',
      'X-Amz-Target': `AWSCognitoIdentityProviderService.${operation}`,
    },
    tags: { name: operation },
  });
  check(response, { [`${operation} 200`]: (r) => r.status === 200 });
}

export default function () {
  const row = rows[(__VU - 1) % rows.length];
  if (Math.random() < 0.75 && row.device_keys.length > 0) {
    const key = row.device_keys[Math.floor(Math.random() * row.device_keys.length)];
    call('GetDevice', { AccessToken: row.access_token, DeviceKey: key });
  } else {
    call('ListDevices', { AccessToken: row.access_token, Limit: 10 });
  }
  sleep(0.1 + Math.random() * 0.2);
}
