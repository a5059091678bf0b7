// amazon-cognito-identity-js (AWS's own SRP client) against the service, in Node:
// 1. authenticateUser with SRP; the library confirms the new device itself (ConfirmDevice);
// 2. setDeviceStatusRemembered;
// 3. a second sign-in with the same storage: the library presents the device and answers
//    DEVICE_SRP_AUTH / DEVICE_PASSWORD_VERIFIER;
// 4. a wrong password is refused.
// Input (argv): endpoint, pool id, client id, username, password. Prints one JSON line.
const {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
} = require('amazon-cognito-identity-js');

const [endpoint, poolId, clientId, username, password] = process.argv.slice(2);

class Storage {
  constructor() { this.items = {}; }
  setItem(k, v) { this.items[k] = String(v); }
  getItem(k) { return Object.prototype.hasOwnProperty.call(this.items, k) ? this.items[k] : null; }
  removeItem(k) { delete this.items[k]; }
  clear() { this.items = {}; }
}

const storage = new Storage();
const pool = new CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint, Storage: storage });

function signIn(pw) {
  const user = new CognitoUser({ Username: username, Pool: pool, Storage: storage });
  const details = new AuthenticationDetails({ Username: username, Password: pw });
  return new Promise((resolve, reject) => {
    user.authenticateUser(details, {
      onSuccess: (session, confirmationNecessary) => resolve({ user, session, confirmationNecessary }),
      onFailure: (err) => reject(err),
      newPasswordRequired: () => reject(new Error('newPasswordRequired')),
      mfaRequired: () => reject(new Error('mfaRequired')),
    });
  });
}

function call(user, method) {
  return new Promise((resolve, reject) => {
    user[method]({ onSuccess: resolve, onFailure: reject });
  });
}

(async () => {
  const out = {};
  const first = await signIn(password);
  out.firstAccess = first.session.getAccessToken().getJwtToken();
  out.firstDeviceKey = first.user.deviceKey;
  await call(first.user, 'setDeviceStatusRemembered');
  const second = await signIn(password);
  out.secondAccess = second.session.getAccessToken().getJwtToken();
  out.secondDeviceKey = second.user.deviceKey;
  try {
    await signIn('Wrong-passw0rd!');
    out.wrong = 'accepted';
  } catch (err) {
    out.wrong = `${err.code}: ${err.message}`;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((err) => {
  process.stdout.write(JSON.stringify({ error: `${err.code}: ${err.message}` }) + '\n');
  process.exit(1);
});
