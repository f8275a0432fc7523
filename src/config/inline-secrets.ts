// Secrets are never values in baton.yml: a key that names a secret (password, token, tsigKey…)
// holding a literal is an error, and so is a named secret under `secrets:` that is not a reference.
import { isPlainObject, type KeyPath } from './paths.js';
import type { Problem } from './problem.js';
import { isSecretUse } from './secrets.js';

// password, dbPassword, token, secret, key, tsigKey, api_key — but not `monkey` or `tsigKeyFile`.
const SECRET_WORD = /(password|passwd|passphrase|token|secret|(^|[_-])key)$/i;
const SECRET_CAMEL = /[a-z]Key$/;
// Maps whose keys are names chosen by the user (host names, header names, secret names), not settings.
const FREE_FORM = new Set(['resolve', 'header', 'secrets']);
// Request headers that carry credentials whatever they are called.
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$/i;
const HOW = 'secrets are references, read at run time: {env: NAME} or {file: PATH}';

export function findInlineSecrets(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const secrets = isPlainObject(data) ? data.secrets : undefined;
  if (isPlainObject(secrets)) {
    for (const [name, ref] of Object.entries(secrets)) {
      if (isLiteral(ref))
        problems.push({ path: ['secrets', name], message: `secret \`${name}\` is written inline; ${HOW}` });
    }
  }
  visit(data, [], problems);
  return problems;
}

function visit(node: unknown, path: KeyPath, problems: Problem[]): void {
  if (Array.isArray(node)) node.forEach((item, i) => visit(item, [...path, i], problems));
  // `{secret: NAME}` names a secret; its value is a name, not the secret.
  if (!isPlainObject(node) || isSecretUse(node)) return;
  const freeForm = path.length > 0 && FREE_FORM.has(String(path[path.length - 1]));
  for (const [key, value] of Object.entries(node)) {
    const secretKey = !freeForm && (SECRET_WORD.test(key) || SECRET_CAMEL.test(key));
    const credential = path[path.length - 1] === 'requestHeaders' && CREDENTIAL_HEADER.test(key);
    if ((secretKey || credential) && isLiteral(value)) {
      problems.push({
        path: [...path, key],
        message:
          `\`${key}\` holds a secret written inline; ${HOW}, named under \`secrets:\` and given here as ` +
          '{secret: NAME}',
      });
    } else {
      visit(value, [...path, key], problems);
    }
  }
}

function isLiteral(v: unknown): boolean {
  return (typeof v === 'string' && v !== '') || typeof v === 'number';
}
