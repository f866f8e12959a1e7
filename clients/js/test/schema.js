// Every message a real server sends in a test file that calls checkEveryMessage(), checked against the
// repository's schema/liaison.schema.json (the Python tests check every message of theirs against it too).
import { afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import Ajv from "ajv";

import { Client } from "liaison-client";

const SCHEMA = new URL("../../../schema/liaison.schema.json", import.meta.url);

/**
 * From now on, check every message any Client of this file receives, before it handles it; fail each test
 * during which one was refused, with the schema's complaint. Only for files whose servers are all real ones:
 * stand-ins answer as older servers do.
 */
export function checkEveryMessage() {
  const ajv = new Ajv();
  const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")));
  const refused = [];
  const receive = Client.prototype.receive;
  Client.prototype.receive = function (text) {
    if (!validate(JSON.parse(text))) {
      refused.push(`${this.url} sent a message that schema/liaison.schema.json refuses: ${ajv.errorsText(validate.errors)}; ` +
        `the message: ${text.slice(0, 500)}`);
    }
    return receive.call(this, text);
  };
  afterEach(() => assert.deepEqual(refused.splice(0), []));
}
