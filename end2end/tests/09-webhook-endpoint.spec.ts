import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { expect, test } from '@playwright/test';
import { ownerContext, screenshot, waitForHydration, watchForErrors } from './support';

// Journey: the owner adds a webhook endpoint for key events, copies its
// whsec_ secret (shown once) into the receiver, creates an API key, and
// the receiver gets key.created signed so that the npm standardwebhooks
// package verifies it; the endpoint's deliveries show it delivered. The
// owner rotates the secret (shown once more) and deletes the endpoint; the
// system log records all three.
test('an owner adds a webhook endpoint, sees its delivery verified, rotates its secret and deletes it', async ({ browser }) => {
  test.setTimeout(90_000);
  const receiver = spawn('node', [path.resolve('support/webhook-receiver.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line: string = await new Promise((resolve) => readline.createInterface({ input: receiver.stdout! }).once('line', resolve));
    const base = `http://127.0.0.1:${JSON.parse(line).port}`;
    const context = await ownerContext(browser);
    const page = await context.newPage();
    const problems = watchForErrors(page);

    await page.goto('/webhooks');
    await waitForHydration(page);
    await expect(page.getByText('No webhook endpoints yet.')).toBeVisible();
    await page.getByLabel('URL').fill(`${base}/hooks/e2e`);
    await page.getByLabel('Description').fill('security on-call');
    // integrity.anomaly and integrity.stale come checked; key events added.
    await expect(page.locator('input[data-event-type="integrity.anomaly"]')).toBeChecked();
    await page.locator('input[data-event-type="key.created"]').check();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const secret = (await page.getByTestId('new-secret').innerText()).trim();
    expect(secret).toMatch(/^whsec_/);
    await fetch(`${base}/_config/e2e`, { method: 'POST', body: JSON.stringify({ secret }) });
    const endpoint = page.locator('article.webhook');
    await expect(endpoint).toHaveCount(1);
    await expect(endpoint).toContainText('key.created');
    await screenshot(page, 'webhooks');

    // A key created in the dashboard is announced to the endpoint.
    await page.goto('/keys');
    await waitForHydration(page);
    await page.getByLabel('Name').fill('webhook-journey');
    await page.getByRole('button', { name: 'Create key' }).click();
    await expect(page.getByTestId('new-secret')).toBeVisible();
    let received: Array<{ verified: boolean; body: string; id: string }> = [];
    await expect(async () => {
      received = await (await fetch(`${base}/_received`)).json();
      expect(received.length).toBeGreaterThan(0);
    }).toPass({ timeout: 20_000 });
    expect(received[0].verified).toBe(true);
    const body = JSON.parse(received[0].body);
    expect(body.type).toBe('key.created');
    expect(body.data.name).toBe('webhook-journey');

    await expect(async () => {
      await page.goto('/webhooks');
      await waitForHydration(page);
      await expect(page.locator('table[data-testid^="deliveries-"] tbody tr').first()).toContainText('delivered', { timeout: 1_000 });
    }).toPass({ timeout: 20_000 });
    await expect(page.locator('table[data-testid^="deliveries-"]')).toContainText(received[0].id);

    await page.getByRole('button', { name: 'Rotate secret…' }).click();
    await page.getByRole('button', { name: /Rotate now/ }).click();
    const rotated = (await page.getByTestId('new-secret').innerText()).trim();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    await expect(endpoint).toContainText('The previous secret also signs until');

    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete now' }).click();
    await expect(page.getByText('No webhook endpoints yet.')).toBeVisible();

    for (const action of ['webhook.created', 'webhook.secret_rotated', 'webhook.deleted']) {
      await page.goto(`/system?action=${action}`);
      await expect(page.locator('table.events tbody tr')).toHaveCount(1);
    }
    expect(problems).toEqual([]);
    await context.close();
  } finally {
    receiver.kill();
  }
});
