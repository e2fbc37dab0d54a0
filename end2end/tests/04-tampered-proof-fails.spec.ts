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

  // A key pasted by the user that did not sign the checkpoint fails too.
  await page.unroute('**/api/event_proof');
  const other = 'audit.example+00000000+AeAiORM9yj3yU4n4W0TRrJAGFsEB3dLkvZVyS1qZQ6Sj';
  await page.getByLabel('Pinned checkpoint key').fill(other);
  await page.getByTestId('verify').click();
  await expect(page.getByTestId('verdict')).toContainText('VERIFICATION FAILED');
  await context.close();
});
