// The device and sign-out operations with the AWS SDK for JavaScript v3, in Node.
// tests/test_device_ops_js.py runs this with NODE_PATH at a cached install of package-lock.json
// and passes {endpoint, steps} as JSON on stdin. Each step is {command, input}; the script runs
// them in order and prints one JSON array: for each step, the answer without $metadata, or the
// error's name and message, with the HTTP status either way.
"use strict";

const sdk = require("@aws-sdk/client-cognito-identity-provider");

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function main() {
  const { endpoint, steps } = await readStdin();
  const client = new sdk.CognitoIdentityProviderClient({
    endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    // These operations are unsigned (the model marks them without auth): the credentials only
    // stop the provider chain from looking for real ones.
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-secret" },
  });
  const outcomes = [];
  for (const { command, input } of steps) {
    const Command = sdk[`${command}Command`];
    if (Command === undefined) throw new Error(`no such command: ${command}`);
    try {
      const { $metadata, ...output } = await client.send(new Command(input));
      outcomes.push({ ok: true, output, httpStatusCode: $metadata.httpStatusCode });
    } catch (err) {
      outcomes.push({
        ok: false,
        name: err.name,
        message: err.message,
        fault: err.$fault ?? null,
        httpStatusCode: err.$metadata?.httpStatusCode ?? null,
      });
    }
  }
  process.stdout.write(JSON.stringify(outcomes) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
