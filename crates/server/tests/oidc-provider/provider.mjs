// A real, independent OpenID Provider for gatehouse's federation tests: panva's certified
// `oidc-provider`, on loopback, with one confidential client. The tests steer it through
// two extra routes:
//   POST /test/login  {"sub", "email", "email_verified"}: who signs in at the next
//                     authorization (the interaction finishes at once: no login form);
//   POST /test/tamper {"mode"}: how the next ID tokens are spoiled, for the relying
//                     party's checks: "signature", "audience", "issuer", "nonce",
//                     "expired", "rotate" (signed with a new key the JWKS starts to list),
//                     "unknown_key" (signed with a key never listed), or null.
// Started with CLIENT_ID, CLIENT_SECRET and REDIRECT_URIS (comma-separated) in the
// environment; prints {"issuer": "http://127.0.0.1:<port>"} on its first line.
import http from "node:http";
import Provider from "oidc-provider";
import * as jose from "jose";

const { CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS } = process.env;

// stdout carries one line, the issuer, and its reader may go away after it: everything
// else (the provider's own notices) goes to stderr.
const toStderr = (...parts) => process.stderr.write(`${parts.join(" ")}\n`);
console.log = toStderr;
console.info = toStderr;

const signingKey = async (kid) => {
  const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
  return { privateKey, jwk };
};
const first = await signingKey("first");
const rotated = await signingKey("rotated");
const neverListed = await signingKey("never-listed");

const accounts = new Map();
let nextSignIn = null;
let tamper = null;
let rotatedKeyListed = false;

const payloadOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
const resign = (payload, key) =>
  new jose.SignJWT(payload).setProtectedHeader({ alg: "RS256", kid: key.jwk.kid, typ: "JWT" }).sign(key.privateKey);

const spoil = async (token, mode) => {
  const payload = payloadOf(token);
  switch (mode) {
    case "signature": {
      const [head, body, signature] = token.split(".");
      const flipped = (signature[5] === "A" ? "B" : "A");
      return `${head}.${body}.${signature.slice(0, 5)}${flipped}${signature.slice(6)}`;
    }
    case "audience":
      return resign({ ...payload, aud: "someone-else" }, first);
    case "issuer":
      return resign({ ...payload, iss: "http://evil.example" }, first);
    case "nonce":
      return resign({ ...payload, nonce: "not-the-one-sent" }, first);
    case "expired": {
      const past = Math.floor(Date.now() / 1000) - 3600;
      return resign({ ...payload, iat: past - 600, exp: past }, first);
    }
    case "rotate":
      rotatedKeyListed = true;
      return resign(payload, rotated);
    case "unknown_key":
      return resign(payload, neverListed);
    default:
      return token;
  }
};

const readJson = (req) =>
  new Promise((resolve, reject) => {
    let text = "";
    req.on("data", (chunk) => (text += chunk));
    req.on("end", () => {
      try {
        resolve(text ? JSON.parse(text) : {});
      } catch (error) {
        reject(error);
      }
    });
  });

let provider;
let callback;

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://127.0.0.1");
    if (req.method === "POST" && url.pathname === "/test/login") {
      nextSignIn = await readJson(req);
      accounts.set(nextSignIn.sub, nextSignIn);
      res.end("ok");
      return;
    }
    if (req.method === "POST" && url.pathname === "/test/tamper") {
      tamper = (await readJson(req)).mode ?? null;
      res.end("ok");
      return;
    }
    if (url.pathname.startsWith("/interaction/")) {
      // No login form: the person the test named signs in and consents.
      const details = await provider.interactionDetails(req, res);
      const accountId = nextSignIn.sub;
      const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    callback(req, res);
  } catch (error) {
    res.statusCode = 500;
    res.end(String(error && error.stack));
  }
});

server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: REDIRECT_URIS.split(","),
        response_types: ["code"],
        grant_types: ["authorization_code"],
      },
    ],
    jwks: { keys: [first.jwk] },
    pkce: { required: () => true, methods: ["S256"] },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    // The email claims in the ID token itself, where the relying party reads them.
    conformIdTokenClaims: false,
    findAccount: async (ctx, sub) => {
      const account = accounts.get(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, email: account.email, email_verified: account.email_verified }),
      };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ["gatehouse-test-provider"] },
  });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === "token" && ctx.body?.id_token && tamper) {
      ctx.body = { ...ctx.body, id_token: await spoil(ctx.body.id_token, tamper) };
    }
    if (ctx.oidc?.route === "jwks" && rotatedKeyListed) {
      const { d, p, q, dp, dq, qi, ...publicPart } = rotated.jwk;
      ctx.body = { keys: [...ctx.body.keys, publicPart] };
    }
  });
  callback = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
