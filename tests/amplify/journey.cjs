// AWS Amplify JS v6 (aws-amplify) against the service, in Node: the sign-in journeys of
// tests/test_amplify.py. Amplify talks to the service on its own; this script only calls its
// public API, watches the wire, and reports what happened for the Python test to check against
// the service's own records. It prints no token: only decoded claims.
//
// Input (stdin, JSON): endpoint, poolId, clientId, username, password, journey. Prints one JSON
// object: {"steps": [{"step": name, ...observations, "wire": [...]}]}.
//
// Journeys:
//   srp      SRP sign-in (new device confirmed), rememberDevice, fetchDevices; local sign-out
//            and SRP sign-in again through DEVICE_SRP_AUTH; then the access token's expiry
//            (the clock moves past it) and fetchDevices, which must refresh by itself.
//   password USER_PASSWORD_AUTH sign-in, its new device confirmed; fetchDevices before and
//            after rememberDevice.
//   global   SRP sign-in and rememberDevice, signOut({global: true}), then at once (same
//            second) a password sign-in from a second, empty storage that confirms and
//            remembers a new device; then the first storage signs in again (SRP) with its
//            remembered device.
'use strict';

// Node 20 has no `navigator`: Amplify names a new device from navigator.userAgent and, without
// it, swallows the ReferenceError and never sends ConfirmDevice
// (@aws-amplify/core utils/deviceName/getDeviceName.js, auth getNewDeviceMetadata.js).
const DEVICE_NAME = 'cgd-amplify-test';
if (typeof globalThis.navigator === 'undefined') {
  globalThis.navigator = { userAgent: DEVICE_NAME };
}
// Amplify's SRP draws its random numbers from the global `crypto` (@aws-amplify/core
// utils/globalHelpers getCrypto), global from Node 19 on; Debian 12's Node 18 has it only here.
if (typeof globalThis.crypto === 'undefined') {
  globalThis.crypto = require('crypto').webcrypto;
}

// The clock Amplify reads. Amplify decides a token has expired with isTokenExpired:
// Date.now() + clockDrift + 5 s > exp (@aws-amplify/core utils/isTokenExpired.js), clockDrift
// being iat - Date.now() at sign-in (auth tokenProvider/cacheTokens.js). Moving this clock
// forward is time passing for Amplify; the service keeps its own (Redis) clock.
const RealDate = Date;
let clockOffsetMs = 0;
class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + clockOffsetMs);
    else super(...args);
  }
  static now() {
    return RealDate.now() + clockOffsetMs;
  }
}
globalThis.Date = ShiftedDate;

// The wire: every request Amplify sends (it uses the global fetch), with what it asked and
// what came back, minus every secret.
let wire = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const headers = new Headers(init && init.headers);
  const target = (headers.get('x-amz-target') || '').split('.').pop();
  let body = {};
  try {
    body = JSON.parse(init && init.body ? String(init.body) : '{}');
  } catch (_err) {
    body = {};
  }
  const sent = { op: target };
  if (body.AuthFlow) sent.authFlow = body.AuthFlow;
  if (body.ChallengeName) sent.challenge = body.ChallengeName;
  const params = body.AuthParameters || body.ChallengeResponses || {};
  if (params.DEVICE_KEY) sent.deviceKey = params.DEVICE_KEY;
  if (body.DeviceKey) sent.deviceKey = body.DeviceKey;
  const response = await realFetch(url, init);
  sent.status = response.status;
  sent.doneMs = RealDate.now();
  try {
    const answer = await response.clone().json();
    if (answer.ChallengeName) sent.nextChallenge = answer.ChallengeName;
    if (answer.__type) sent.error = `${answer.__type}: ${answer.message || answer.Message}`;
    const meta = answer.AuthenticationResult && answer.AuthenticationResult.NewDeviceMetadata;
    if (meta) sent.newDeviceKey = meta.DeviceKey;
    if ('UserConfirmationNecessary' in answer) sent.confirmationNecessary = answer.UserConfirmationNecessary;
  } catch (_err) {
    // Not JSON: the status says enough.
  }
  wire.push(sent);
  return response;
};

const { Amplify } = require('aws-amplify');
const auth = require('aws-amplify/auth');
const { cognitoUserPoolsTokenProvider } = require('aws-amplify/auth/cognito');

// Amplify's token store on Node: an in-memory KeyValueStorage (the interface of
// @aws-amplify/core storage/KeyValueStorage.js), one per "browser", so that a journey can
// switch to a second, empty one and read back what Amplify keeps (its device key).
class MemoryStorage {
  constructor() { this.items = new Map(); }
  async setItem(key, value) { this.items.set(key, String(value)); }
  async getItem(key) { return this.items.has(key) ? this.items.get(key) : null; }
  async removeItem(key) { this.items.delete(key); }
  async clear() { this.items.clear(); }
  deviceKey() {
    for (const [key, value] of this.items) if (key.endsWith('.deviceKey')) return value;
    return null;
  }
}

function claims(token) {
  const p = token.payload;
  return {
    jti: p.jti, origin_jti: p.origin_jti, iat: p.iat, exp: p.exp,
    device_key: p.device_key, sub: p.sub, token_use: p.token_use, client_id: p.client_id,
  };
}

async function session() {
  const { tokens } = await auth.fetchAuthSession();
  if (!tokens || !tokens.accessToken) return { signedIn: false };
  return { signedIn: true, access: claims(tokens.accessToken), id: claims(tokens.idToken) };
}

async function devices() {
  const listed = await auth.fetchDevices();
  return listed.map((d) => ({
    id: d.id,
    name: d.name,
    status: d.attributes.device_status,
    lastAuthenticated: d.lastAuthenticatedDate ? d.lastAuthenticatedDate.getTime() : null,
  }));
}

function describe(err) {
  return `${err.name}: ${err.message}`;
}

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  Amplify.configure({
    Auth: {
      Cognito: {
        userPoolId: input.poolId,
        userPoolClientId: input.clientId,
        // Amplify takes the region from the pool id and this endpoint for the user pool calls.
        userPoolEndpoint: input.endpoint,
      },
    },
  });
  let storage = new MemoryStorage();
  cognitoUserPoolsTokenProvider.setKeyValueStorage(storage);
  const useStorage = (s) => {
    storage = s;
    cognitoUserPoolsTokenProvider.setKeyValueStorage(s);
  };

  const steps = [];
  // Run one step: its observations, the wire it used, or the error that stopped it.
  const step = async (name, fn) => {
    wire = [];
    const started = RealDate.now();
    const out = { step: name };
    try {
      Object.assign(out, await fn());
    } catch (err) {
      out.error = describe(err);
    }
    out.wire = wire;
    out.startedMs = started;
    out.storedDeviceKey = storage.deviceKey();
    steps.push(out);
    return out;
  };
  const signIn = (authFlowType) => async () => {
    const result = await auth.signIn({
      username: input.username,
      password: input.password,
      options: { authFlowType },
    });
    return { isSignedIn: result.isSignedIn, nextStep: result.nextStep.signInStep, ...(await session()) };
  };
  const remember = async () => {
    await auth.rememberDevice();
    return { devices: await devices() };
  };

  if (input.journey === 'srp') {
    await step('srp sign-in', signIn('USER_SRP_AUTH'));
    await step('remember device', remember);
    await step('local sign-out', async () => {
      await auth.signOut();
      return await session();
    });
    await step('srp sign-in with device', signIn('USER_SRP_AUTH'));
    const before = await step('session before expiry', session);
    await step('access token expires', async () => {
      // A minute past the access token's exp, as Amplify reckons it (with its drift).
      const drift = Number(await storage.getItem(
        [...storage.items.keys()].find((k) => k.endsWith('.clockDrift'))));
      clockOffsetMs = before.access.exp * 1000 - drift - RealDate.now() + 60000;
      return { devices: await devices(), ...(await session()) };
    });
  } else if (input.journey === 'password') {
    await step('password sign-in', signIn('USER_PASSWORD_AUTH'));
    await step('fetch devices', async () => ({ devices: await devices() }));
    await step('remember device', remember);
  } else if (input.journey === 'global') {
    const first = storage;
    await step('srp sign-in', signIn('USER_SRP_AUTH'));
    await step('remember device', remember);
    // Sign out at the start of a second, so that the sign-in right after it gets tokens
    // issued within the same second: the case a sign-out that counts whole seconds refuses.
    while (RealDate.now() % 1000 > 50) await new Promise((r) => setTimeout(r, 5));
    await step('global sign-out', async () => {
      await auth.signOut({ global: true });
      return await session();
    });
    // The password flow: tokens in one round trip, well within that second (SRP takes about
    // a second of client-side arithmetic here).
    useStorage(new MemoryStorage());
    await step('new browser sign-in', signIn('USER_PASSWORD_AUTH'));
    await step('new browser remembers', remember);
    useStorage(first);
    await step('first browser sign-in with device', signIn('USER_SRP_AUTH'));
    await step('first browser devices', async () => ({ devices: await devices() }));
  } else {
    throw new Error(`unknown journey ${input.journey}`);
  }
  process.stdout.write(JSON.stringify({ steps }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${describe(err)}\n`);
  process.exit(1);
});
