/**
 * The farm page: sign-in (a token kept in sessionStorage), then `#/` the build list or `#/builds/<id>` one build.
 * The hash carries only the page; the token never enters a URL.
 */
import { getJson, session } from './api.js';
import { buildPage } from './build-page.js';
import { h } from './dom.js';
import { farmHeader } from './header.js';
import { listPage } from './list-page.js';

const app = document.getElementById('app')!;
let current = new AbortController();

function signIn(message = ''): void {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'API token', 'data-testid': 'token', required: true });
  const error = h('p', { class: 'error-text', 'data-testid': 'sign-in-error' }, message);
  const form = h('form', { class: 'sign-in' },
    h('h1', {}, 'builder farm'),
    h('p', {}, 'Sign in with an API token that has the "read" scope ("cancel" to cancel builds). It stays in this tab only.'),
    input, h('button', { type: 'submit' }, 'Sign in'), error);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    getJson('/v1/farm', token).then(() => {
      session.set(token);
      route();
    }, (err: Error) => { error.textContent = `sign-in failed: ${err.message}`; });
  });
  app.replaceChildren(form);
  input.focus();
}

function route(): void {
  current.abort();
  current = new AbortController();
  if (!session.token) {
    signIn();
    return;
  }
  const main = h('main');
  app.replaceChildren(farmHeader(current.signal, () => route()), main);
  const match = /^#\/builds\/([\w.-]+)$/.exec(location.hash);
  if (match) buildPage(main, match[1]!, current.signal);
  else listPage(main, current.signal);
}

window.addEventListener('hashchange', route);
route();
