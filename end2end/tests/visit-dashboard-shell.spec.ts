import { expect, test } from '@playwright/test';
import { screenshot, waitForHydration, watchForErrors } from './support';

// Journey: a visitor opens the dashboard over HTTPS, the page hydrates and
// responds, they reach the sign-in page, and a wrong address shows a 404.
test('the dashboard shell loads over HTTPS, hydrates and navigates', async ({ page }) => {
  const problems = watchForErrors(page);

  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  expect(page.url()).toMatch(/^https:\/\//);
  const headers = response?.headers() ?? {};
  expect(headers['strict-transport-security']).toContain('max-age=');
  expect(headers['content-security-policy']).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'wasm-unsafe-eval'/);
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['x-content-type-options']).toBe('nosniff');

  await expect(page).toHaveTitle('AuditStore');
  await expect(page.getByRole('heading', { level: 1, name: 'AuditStore' })).toBeVisible();
  await waitForHydration(page);

  // The menu button only works once the WebAssembly is running.
  await page.setViewportSize({ width: 600, height: 900 });
  const menu = page.getByRole('button', { name: 'Menu' });
  await expect(menu).toHaveAttribute('aria-expanded', 'false');
  await expect(page.getByRole('navigation', { name: 'Primary' })).toBeHidden();
  await menu.click();
  await expect(menu).toHaveAttribute('aria-expanded', 'true');
  await expect(page.getByRole('navigation', { name: 'Primary' })).toBeVisible();
  await screenshot(page, 'overview-narrow-menu-open');
  await page.setViewportSize({ width: 1280, height: 800 });
  await screenshot(page, 'overview');

  // Client-side navigation to the sign-in page.
  await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Sign in' })).toBeVisible();
  await expect(page).toHaveTitle('Sign in · AuditStore');
  await screenshot(page, 'login');

  expect(problems).toEqual([]);
});

test('an unknown address answers 404 with a helpful page', async ({ page }) => {
  const problems = watchForErrors(page);
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  await waitForHydration(page);
  await screenshot(page, 'not-found');
  await page.getByRole('link', { name: 'Back to the overview' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'AuditStore' })).toBeVisible();
  // Chromium reports the 404 document itself on the console; that one is
  // the point of this test, anything else is a problem.
  const unexpected = problems.filter((p) => !p.includes('status of 404'));
  expect(unexpected).toEqual([]);
  expect(problems.length).toBe(1);
});
