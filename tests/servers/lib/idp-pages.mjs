// HTML pages of the test IdP. Plain HTML, inline CSS, no external assets;
// element ids and names follow Keycloak's login theme (kc-form-login,
// username, password, kc-login, input-error) so browser tests read the same.
import { escapeHtml as e } from './http.mjs';

const STYLE = `
body{font-family:system-ui,sans-serif;background:#f0f0f0;margin:0}
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-top:4px solid #0066cc;box-shadow:0 1px 3px #0003}
h1{font-size:1.4rem;margin:0 0 1.5rem}
label{display:block;margin:.8rem 0 .3rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
input[type=submit]{margin-top:1.4rem;width:100%;padding:.6rem;font-size:1rem;background:#0066cc;color:#fff;border:0;cursor:pointer}
.alert-error{background:#fdecea;border-left:4px solid #c9190b;padding:.6rem;margin-bottom:1rem}
.realm{color:#555;font-size:.9rem;margin-bottom:.5rem}
`;

function layout(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

export function loginPage({
  realm, action, username = '', error, clientId,
}) {
  const alert = error
    ? `<div class="alert-error" role="alert"><span id="input-error" class="kc-feedback-text">${e(error)}</span></div>`
    : '';
  return layout(`Sign in to ${realm}`, `
<div class="realm" id="kc-header">${e(realm.toUpperCase())}</div>
<h1 id="kc-page-title">Sign in to your account</h1>
${alert}
<form id="kc-form-login" method="post" action="${e(action)}">
  <label for="username">Username or email</label>
  <input id="username" name="username" type="text" value="${e(username)}" autocomplete="username" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password">
  <input id="kc-login" name="login" type="submit" value="Sign In">
</form>
<p class="realm">Client: <span id="kc-client">${e(clientId || '')}</span></p>`);
}

export function messagePage(title, message) {
  return layout(title, `<h1 id="kc-page-title">${e(title)}</h1><p id="kc-message">${e(message)}</p>`);
}
