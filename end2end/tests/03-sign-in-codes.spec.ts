import { expect, test } from '@playwright/test';
import { freshCode, loadState, screenshot, signIn, waitForHydration } from './support';

// Journey: sign-in refuses a wrong code, accepts the right one, and refuses
// the same code a second time (RFC 6238 §5.2: a code is used once).
test('a wrong code and a reused code are refused', async ({ page }) => {
  test.setTimeout(120_000);
  const state = loadState();
  await page.goto('/login');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(state.ownerEmail);
  await page.getByLabel('Password').fill(state.password);
  await page.getByLabel('Authenticator code or recovery code').fill('000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Sign-in failed');
  await expect(page).toHaveURL(/\/login$/);
  await screenshot(page, 'login-failed');

  const code = await freshCode(state, state.ownerEmail, state.ownerSecret);
  await signIn(page, state.ownerEmail, state.password, code);
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);

  await waitForHydration(page);
  await page.getByLabel('Email').fill(state.ownerEmail);
  await page.getByLabel('Password').fill(state.password);
  await page.getByLabel('Authenticator code or recovery code').fill(code);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Sign-in failed');
  await expect(page).toHaveURL(/\/login$/);
});
