import { expect, test } from '@playwright/test';
import { loadState, ownerContext, screenshot, waitForHydration } from './support';

// Journey: the proof the server sends is altered on the way (an
// intercepted response); verification in the browser catches it and says
// so loudly, whatever the server claims.
test('a tampered inclusion proof makes verification fail visibly', async ({ browser }) => {
  const state = loadState();
  const context = await ownerContext(browser);
  const page = await context.newPage();
  await page.route('**/api/event_proof', async (route) => {
    const response = await route.fetch();
    const bundle = await response.json();
    const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
    if (bundle.proof.length > 0) bundle.proof[0] = flip(bundle.proof[0]);
    else bundle.seq = bundle.seq + 1;
    await route.fulfill({ response, json: bundle });
  });
  await page.goto(`/ledgers/${state.ledgerId}/events/${state.eventId}`);
  await waitForHydration(page);
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText('VERIFICATION FAILED');
  const steps = page.getByTestId('steps').locator('li');
  await expect(steps.last()).toHaveAttribute('data-ok', 'false');
  await expect(steps.last()).toContainText('Inclusion proof');
  await screenshot(page, 'event-tampered-proof');

  // A key pasted and pinned by the user that did not sign the checkpoint
  // fails too, and stays pinned across page loads, loudly different from
  // the server's.
  await page.unroute('**/api/event_proof');
  const serverKey = await page.getByLabel('Pinned checkpoint key').inputValue();
  const other = serverKey.replace(/\+[^+]*$/, '+AeAiORM9yj3yU4n4W0TRrJAGFsEB3dLkvZVyS1qZQ6Sj');
  await page.getByLabel('Pinned checkpoint key').fill(other);
  await page.getByRole('button', { name: 'Pin this key in this browser' }).click();
  await page.reload();
  await waitForHydration(page);
  await expect(page.getByTestId('pin-differs')).toBeVisible();
  await expect(page.getByLabel('Pinned checkpoint key')).toHaveValue(other);
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText('VERIFICATION FAILED');
  await screenshot(page, 'event-foreign-key-pinned');

  // Forgetting the pin brings back the server's key, and verification passes.
  await page.getByRole('button', { name: 'Forget the pinned key' }).click();
  await expect(page.getByTestId('pin-differs')).toHaveCount(0);
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText('Verified');
  await context.close();
});
