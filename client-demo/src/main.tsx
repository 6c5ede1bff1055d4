import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { ChatClient } from './net/chatClient';
import './styles.css';

const client = new ChatClient();
void client.loadConfig();
// Exposed for debugging from the devtools console.
(window as unknown as { switchboard: ChatClient }).switchboard = client;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App client={client} />
  </StrictMode>,
);
