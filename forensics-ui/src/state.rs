//! What every handler shares: the data folder, its browser (opened when
//! there is data), accounts, sessions and the sign-in limiter.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use capture::ops::browse::Browser;

use crate::accounts::{Accounts, Role};
use crate::auth::{Limiter, Sessions};
use crate::error::{AppError, Result};

#[derive(Clone, Debug)]
pub struct Config {
    pub data: PathBuf,
    /// Cookies get `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Redis of the detector (attackers, policy, agents), when there is one.
    pub redis_url: Option<String>,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    browser: RwLock<Option<Arc<Browser>>>,
    accounts: Mutex<Accounts>,
    sessions: Mutex<Sessions>,
    limiter: Mutex<Limiter>,
    /// The detector's store once connected (`crate::detector_state`).
    detector: tokio::sync::Mutex<Option<detector::state::Store>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not lock everyone out: the data is still whole
    // (every change is one assignment or push).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// Loads the accounts; with none, creates the user `admin` and returns
    /// its password (to print once).
    pub fn new(config: Config) -> Result<(AppState, Option<String>)> {
        let mut accounts = Accounts::load(&config.data)?;
        let mut first = None;
        if accounts.users.is_empty() {
            let password = crate::accounts::generate_password();
            accounts.set_user("admin", Role::Admin, &password)?;
            accounts.save(&config.data)?;
            first = Some(password);
        }
        let state = AppState(Arc::new(Inner {
            config,
            browser: RwLock::new(None),
            accounts: Mutex::new(accounts),
            sessions: Mutex::default(),
            limiter: Mutex::default(),
            detector: tokio::sync::Mutex::new(None),
        }));
        Ok((state, first))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn accounts(&self) -> MutexGuard<'_, Accounts> {
        lock(&self.0.accounts)
    }

    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.0.sessions)
    }

    pub(crate) fn detector_slot(&self) -> &tokio::sync::Mutex<Option<detector::state::Store>> {
        &self.0.detector
    }

    pub fn limiter(&self) -> MutexGuard<'_, Limiter> {
        lock(&self.0.limiter)
    }

    /// Changes the accounts and saves them; the change is kept only when
    /// the file was written.
    pub fn update_accounts<T>(&self, f: impl FnOnce(&mut Accounts) -> Result<T>) -> Result<T> {
        let mut guard = self.accounts();
        let mut copy = guard.clone();
        let out = f(&mut copy)?;
        copy.save(&self.0.config.data)?;
        *guard = copy;
        Ok(out)
    }

    /// The data folder's browser, opened on first use (the folder may get
    /// its first data after the UI started).
    pub fn browser(&self) -> Result<Arc<Browser>, AppError> {
        if let Some(b) = self.0.browser.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(b.clone());
        }
        let b = Arc::new(Browser::open(&self.0.config.data)?);
        *self.0.browser.write().unwrap_or_else(|p| p.into_inner()) = Some(b.clone());
        Ok(b)
    }

    /// Runs blocking work (index, store files) off the async threads.
    pub async fn with_browser<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Browser) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let b = state.browser()?;
            f(&b)
        })
        .await?
    }
}
