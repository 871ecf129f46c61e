// gatehouse pages: the passkey ceremonies, the pages' only script. Everything else works
// without it. Each ceremony fetches its options from the server, asks the browser's
// authenticator, then posts the answer in an ordinary form (with the page's CSRF token),
// so the server checks it as it checks any other form.
"use strict";

(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // No passkeys here: the pages stay as they are without script.
  }

  const fromBase64url = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  const toBase64url = (buffer) => {
    let raw = "";
    for (const byte of new Uint8Array(buffer)) raw += String.fromCharCode(byte);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const withIds = (list) =>
    (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));

  // The server's options (binary fields base64url) as the browser takes them.
  const creationOptions = (options) => ({
    ...options,
    challenge: fromBase64url(options.challenge),
    user: { ...options.user, id: fromBase64url(options.user.id) },
    excludeCredentials: withIds(options.excludeCredentials),
  });
  const requestOptions = (options) => ({
    ...options,
    challenge: fromBase64url(options.challenge),
    allowCredentials: withIds(options.allowCredentials),
  });

  // What the authenticator answered, as the server reads it (binary fields base64url).
  const credentialJson = (credential) => {
    const answer = credential.response;
    const response = { clientDataJSON: toBase64url(answer.clientDataJSON) };
    if (answer.attestationObject) {
      response.attestationObject = toBase64url(answer.attestationObject);
      response.transports = answer.getTransports ? answer.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(answer.authenticatorData);
      response.signature = toBase64url(answer.signature);
      if (answer.userHandle) response.userHandle = toBase64url(answer.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response,
    });
  };

  const show = (form, text) => {
    const line = form.querySelector("[data-passkey-problem]");
    if (line) {
      line.textContent = text;
      line.hidden = !text;
    }
  };
  const why = (error) =>
    error && error.name === "NotAllowedError"
      ? "The passkey was not used (cancelled or timed out). Try again, or use another way."
      : "Your passkey could not be used here. Reload the page and try again.";

  const fetchOptions = async (url, init) => {
    const response = await fetch(url, { method: "POST", credentials: "same-origin", ...init });
    const type = response.headers.get("content-type") || "";
    if (!type.includes("json")) throw new Error("Reload the page and try again.");
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail ? body.detail + "." : "Try again.");
    return body;
  };

  const submit = (form, challengeId, credential) => {
    form.elements.challenge_id.value = challengeId;
    form.elements.credential.value = credentialJson(credential);
    form.submit();
  };

  // "Sign in with a passkey", and the browser's autofill of passkeys in the email field.
  const signIn = (form) => {
    const url = "/auth/passkeys/login/options";
    // A ceremony lives 5 minutes: the autofill's is renewed before it ends.
    const renewAfterMs = 4 * 60 * 1000;
    let autofill = null;
    let renewal = null;
    const ask = async (controller, mediation) => {
      const ceremony = await fetchOptions(url, { signal: controller.signal });
      const credential = await navigator.credentials.get({
        publicKey: requestOptions(ceremony.publicKey),
        mediation,
        signal: controller.signal,
      });
      if (credential) submit(form, ceremony.challenge_id, credential);
    };
    const offerAutofill = () => {
      clearTimeout(renewal);
      if (autofill) autofill.abort();
      autofill = new AbortController();
      ask(autofill, "conditional").catch(() => {}); // A convenience: stays quiet.
      renewal = setTimeout(offerAutofill, renewAfterMs);
    };
    const autofillOffered = PublicKeyCredential.isConditionalMediationAvailable
      ? PublicKeyCredential.isConditionalMediationAvailable()
      : Promise.resolve(false);
    form.querySelector("[data-passkey-start]").addEventListener("click", async () => {
      show(form, "");
      // One request at a time: the button's replaces the autofill's.
      clearTimeout(renewal);
      if (autofill) autofill.abort();
      autofill = null;
      try {
        await ask(new AbortController(), undefined);
      } catch (error) {
        show(form, error.name === "Error" ? error.message : why(error));
        if (await autofillOffered) offerAutofill();
      }
    });
    autofillOffered.then((available) => {
      if (available) offerAutofill();
    });
  };

  // The login's second step with a passkey.
  const secondStep = (form) => {
    form.querySelector("[data-passkey-start]").addEventListener("click", async () => {
      show(form, "");
      try {
        const ceremony = await fetchOptions("/auth/mfa/passkey/options", {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ mfa_token: form.elements.mfa_token.value }),
        });
        const credential = await navigator.credentials.get({
          publicKey: requestOptions(ceremony.publicKey),
        });
        submit(form, ceremony.challenge_id, credential);
      } catch (error) {
        show(form, error.name === "Error" ? error.message : why(error));
      }
    });
  };

  // "Add a passkey" on the account page.
  const register = (form) => {
    form.querySelector("[data-passkey-start]").addEventListener("click", async () => {
      show(form, "");
      try {
        const ceremony = await fetchOptions("/account/passkeys/options", {
          body: new URLSearchParams({ csrf: form.elements.csrf.value }),
        });
        const credential = await navigator.credentials.create({
          publicKey: creationOptions(ceremony.publicKey),
        });
        submit(form, ceremony.challenge_id, credential);
      } catch (error) {
        show(form, error.name === "Error" ? error.message : why(error));
      }
    });
  };

  const ceremonies = { "sign-in": signIn, "second-step": secondStep, register };
  for (const form of document.querySelectorAll("form[data-passkey]")) {
    const start = ceremonies[form.dataset.passkey];
    if (start) {
      form.hidden = false;
      start(form);
    }
  }
})();
