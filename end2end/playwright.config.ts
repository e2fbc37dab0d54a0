import { defineConfig } from '@playwright/test';

// The server is started by scripts/test.sh (or by you: `make run`), which
// passes its address in AUDITSTORE_URL. The browser is Debian's chromium;
// Playwright never downloads one here.
export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: process.env.AUDITSTORE_URL ?? 'https://localhost:8443',
    // The test server uses the self-signed certificate AuditStore generates
    // on first start; only the tests skip its verification.
    ignoreHTTPSErrors: true,
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
