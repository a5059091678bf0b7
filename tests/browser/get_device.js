// GetDevice from a browser page with the AWS SDK for JavaScript v3, as Amplify makes it.
// The page (tests/test_browser.py) sets window.CGD = {endpoint, accessToken, deviceKey} before
// loading this bundle; the outcome is written into <pre id="result"> as JSON, for the test to
// read back from the DOM.
import {
  CognitoIdentityProviderClient,
  GetDeviceCommand,
} from "@aws-sdk/client-cognito-identity-provider";

function report(outcome) {
  const out = document.getElementById("result");
  out.textContent = JSON.stringify(outcome);
  out.setAttribute("data-done", "1");
}

async function main() {
  const { endpoint, accessToken, deviceKey } = window.CGD;
  const client = new CognitoIdentityProviderClient({
    endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    // GetDevice is unsigned (the model marks it without auth): these are never used to sign,
    // and only stop a provider chain from looking for real ones.
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-secret" },
  });
  try {
    const answer = await client.send(
      new GetDeviceCommand({ AccessToken: accessToken, DeviceKey: deviceKey }),
    );
    report({
      ok: true,
      deviceKey: answer.Device.DeviceKey,
      requestId: answer.$metadata.requestId ?? null,
      httpStatusCode: answer.$metadata.httpStatusCode,
    });
  } catch (err) {
    report({
      ok: false,
      name: err.name,
      message: err.message,
      fault: err.$fault ?? null,
      requestId: err.$metadata?.requestId ?? null,
      httpStatusCode: err.$metadata?.httpStatusCode ?? null,
    });
  }
}

main().catch((err) => report({ ok: false, name: "PageError", message: String(err) }));
