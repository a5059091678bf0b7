// The AWS SDK for JavaScript v3 (Node) signs admin calls: tests/test_sigv4.py runs this with
// the SDK installed by tests/test_browser.py's cache. Prints one JSON line of outcomes.
import { createRequire } from "node:module";
const require = createRequire(process.env.CGD_NODE_MODULES + "/");
const sdk = require("@aws-sdk/client-cognito-identity-provider");

const [endpoint, secret] = process.argv.slice(2);
function client(secretAccessKey, region = "us-east-1") {
  return new sdk.CognitoIdentityProviderClient({
    endpoint, region, maxAttempts: 1,
    credentials: { accessKeyId: "test", secretAccessKey },
  });
}
async function outcome(c, command) {
  try { await c.send(command); return "OK"; }
  catch (err) { return `${err.name}: ${err.message}`; }
}
const list = () => new sdk.ListUserPoolsCommand({ MaxResults: 5 });
const made = await client(secret).send(new sdk.CreateUserPoolCommand({ PoolName: "js pool" }));
const out = {
  created: made.UserPool.Id,
  signed: await outcome(client(secret), list()),
  wrongSecret: await outcome(client("nope"), list()),
  wrongRegion: await outcome(client(secret, "eu-west-1"), list()),
};
console.log(JSON.stringify(out));
